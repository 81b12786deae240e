package fluvial.flink;

import java.util.TreeMap;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * The watermark holds of a grouping (GroupByKey / CombinePerKey running fluvial's window
 * driver in a Python keyed function, which cannot hold back its output watermark). Runs right
 * after that function, on the same keys (the stream is reinterpreted as keyed by the same key
 * selector, so each instance sees exactly the keys of the function instance before it):
 *
 * <ul>
 *   <li>{@code Row(key, null, record)}: an output of the function (a pane, a clock tick),
 *       passed on as the pickled {@code record};
 *   <li>{@code Row(key, hold, null)}: the earliest hold of {@code key} is now {@code hold}
 *       ({@code Long.MAX_VALUE}: the key holds nothing), sent by the function at the end of a
 *       call that changed it, so after the panes the call emitted and before any later
 *       watermark.
 * </ul>
 *
 * <p>Each key's hold is keyed state of this operator ({@code fluvial-hold}), so it is part of
 * checkpoints and moves with its key group when a job is rescaled; the minimum over the keys of
 * this instance is kept in memory (a count per hold) and rebuilt from that state when the
 * operator opens. The watermark forwarded is the minimum of the input watermark and that
 * minimum, never moving back; a released hold lets the watermark move on at once. Downstream,
 * Flink takes the minimum over the instances.
 */
public class GroupHolds extends AbstractStreamOperator<byte[]> implements OneInputStreamOperator<Row, byte[]> {
    private static final long serialVersionUID = 1L;

    static final String STATE = "fluvial-hold";

    private transient ValueState<Long> hold;
    private transient TreeMap<Long, Integer> holds;
    private transient long input;
    private transient long emitted;

    private static ValueStateDescriptor<Long> descriptor() {
        return new ValueStateDescriptor<>(STATE, Types.LONG);
    }

    @Override
    public void open() throws Exception {
        super.open();
        input = Long.MIN_VALUE;
        emitted = Long.MIN_VALUE;
        holds = new TreeMap<>();
        hold = getPartitionedState(descriptor());
        getKeyedStateBackend().applyToAllKeys(
                VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE, descriptor(),
                (key, state) -> add(state.value()));
    }

    private void add(Long h) {
        if (h != null) {
            holds.merge(h, 1, Integer::sum);
        }
    }

    private void remove(Long h) {
        if (h != null) {
            holds.computeIfPresent(h, (k, n) -> n > 1 ? n - 1 : null);
        }
    }

    @Override
    public void processElement(StreamRecord<Row> record) throws Exception {
        Row r = record.getValue();
        Object payload = r.getField(2);
        if (payload != null) {
            output.collect(record.replace((byte[]) payload));
            return;
        }
        long now = (Long) r.getField(1);
        remove(hold.value());
        if (now == Long.MAX_VALUE) {
            hold.clear();
        } else {
            hold.update(now);
            add(now);
        }
        advance();
    }

    @Override
    public void processWatermark(Watermark mark) {
        input = mark.getTimestamp();
        advance();
    }

    private void advance() {
        long wm = holds.isEmpty() ? input : Math.min(input, holds.firstKey());
        if (wm > emitted) {
            emitted = wm;
            output.emitWatermark(new Watermark(wm));
        }
    }
}
