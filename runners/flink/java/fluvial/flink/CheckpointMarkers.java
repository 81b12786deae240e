package fluvial.flink;

import java.util.Collections;
import java.util.OptionalLong;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Puts Flink's checkpoint events into the stream of a fluvial sink, so that a Python sink
 * function (which PyFlink gives no checkpoint hooks) can run fluvial's two-phase commit.
 *
 * <p>Input: the sink's pickled elements ({@code byte[]}). Output: {@code Tuple3<Integer kind,
 * Long id, byte[] payload>}, in this order per event:
 *
 * <ul>
 *   <li>{@link #RESTORED}{@code (m)}: first of all, when the job was restored from checkpoint
 *       {@code m};
 *   <li>{@link #DATA}: an element, {@code payload} its pickled bytes;
 *   <li>{@link #SNAPSHOT}{@code (n)}: emitted in {@code prepareSnapshotPreBarrier}, so it
 *       reaches the sink before the barrier of checkpoint {@code n} does;
 *   <li>{@link #COMMIT}{@code (n)}: checkpoint {@code n} completed (emitted from {@code
 *       notifyCheckpointComplete}; a lost one is covered by the next);
 *   <li>{@link #END}{@code (n)}: the input ended; {@code n} is the last checkpoint this operator
 *       snapshotted (0: none). Nothing follows it.
 * </ul>
 *
 * <p>The operator keeps the id of each checkpoint in its own state, so that its task always has
 * state to restore (Flink restores nothing into a task without state, and such a task would not
 * learn that the job was restored).
 *
 * <p>The kinds match runners/flink/committing.py.
 */
public class CheckpointMarkers extends AbstractStreamOperator<Tuple3<Integer, Long, byte[]>>
        implements OneInputStreamOperator<byte[], Tuple3<Integer, Long, byte[]>>, BoundedOneInput {
    private static final long serialVersionUID = 1L;

    public static final int DATA = 0;
    public static final int SNAPSHOT = 1;
    public static final int COMMIT = 2;
    public static final int RESTORED = 3;
    public static final int END = 4;

    private static final byte[] NONE = new byte[0];

    private transient ListState<Long> taken;
    private transient long restoredFrom;
    private transient boolean announced;
    private transient boolean ended;
    private transient long lastSnapshot;

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        taken = context.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("fluvial-checkpoint-markers", Long.class));
        restoredFrom = -1L;
        if (context.isRestored()) {
            OptionalLong id = context.getRestoredCheckpointId();
            if (id.isPresent()) {
                restoredFrom = id.getAsLong();
            } else {
                for (Long v : taken.get()) {
                    restoredFrom = Math.max(restoredFrom, v);
                }
            }
        }
        announced = false;
        ended = false;
        lastSnapshot = restoredFrom > 0 ? restoredFrom : 0L;
    }

    private void emit(int kind, long id, byte[] payload) {
        output.collect(new StreamRecord<>(Tuple3.of(kind, id, payload)));
    }

    /** The RESTORED marker goes before anything else this operator emits. */
    private void announce() {
        if (!announced) {
            announced = true;
            if (restoredFrom >= 0) {
                emit(RESTORED, restoredFrom, NONE);
            }
        }
    }

    @Override
    public void processElement(StreamRecord<byte[]> element) {
        announce();
        emit(DATA, 0L, element.getValue());
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        if (!ended) {
            announce();
            emit(SNAPSHOT, checkpointId, NONE);
            lastSnapshot = checkpointId;
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        taken.update(Collections.singletonList(context.getCheckpointId()));
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        if (!ended && announced) {
            emit(COMMIT, checkpointId, NONE);
        }
    }

    @Override
    public void endInput() {
        announce();
        emit(END, lastSnapshot, NONE);
        ended = true;
    }
}
