package fluvial.flink.kafka;

import java.util.List;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.KafkaSourceEnumState;
import org.apache.flink.connector.kafka.source.split.KafkaPartitionSplit;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * A bounded KafkaSource that also ends when it was restored from a checkpoint.
 *
 * <p>Flink's KafkaSourceEnumerator (connector 4.0) tells its readers "no more splits" only after
 * a partition discovery that found new partitions. Restored from a checkpoint in which every
 * partition is already assigned, it finds none, so a bounded read never ends: its readers finish
 * their splits and wait forever. This source delegates everything to the KafkaSource it wraps;
 * when that is bounded and its enumerator is restored with every partition assigned (nothing
 * left to discover), it sends each reader that registers "no more splits" right after the
 * wrapped enumerator has handed it whatever it had to.
 */
public class ResumableBoundedSource<T>
        implements Source<T, KafkaPartitionSplit, KafkaSourceEnumState>, ResultTypeQueryable<T> {
    private static final long serialVersionUID = 1L;

    private final KafkaSource<T> inner;

    public ResumableBoundedSource(KafkaSource<T> inner) {
        this.inner = inner;
    }

    @Override
    public Boundedness getBoundedness() {
        return inner.getBoundedness();
    }

    @Override
    public SourceReader<T, KafkaPartitionSplit> createReader(SourceReaderContext context)
            throws Exception {
        return inner.createReader(context);
    }

    @Override
    public SplitEnumerator<KafkaPartitionSplit, KafkaSourceEnumState> createEnumerator(
            SplitEnumeratorContext<KafkaPartitionSplit> context) {
        return inner.createEnumerator(context);
    }

    @Override
    public SplitEnumerator<KafkaPartitionSplit, KafkaSourceEnumState> restoreEnumerator(
            SplitEnumeratorContext<KafkaPartitionSplit> context, KafkaSourceEnumState state)
            throws Exception {
        SplitEnumerator<KafkaPartitionSplit, KafkaSourceEnumState> restored =
                inner.restoreEnumerator(context, state);
        boolean settled =
                inner.getBoundedness() == Boundedness.BOUNDED
                        && state.initialDiscoveryFinished()
                        && state.unassignedInitialPartitions().isEmpty();
        return settled ? new Finishing(restored, context) : restored;
    }

    @Override
    public SimpleVersionedSerializer<KafkaPartitionSplit> getSplitSerializer() {
        return inner.getSplitSerializer();
    }

    @Override
    public SimpleVersionedSerializer<KafkaSourceEnumState> getEnumeratorCheckpointSerializer() {
        return inner.getEnumeratorCheckpointSerializer();
    }

    @Override
    public TypeInformation<T> getProducedType() {
        return inner.getProducedType();
    }

    /** The restored enumerator, plus "no more splits" to every reader that registers. */
    static final class Finishing
            implements SplitEnumerator<KafkaPartitionSplit, KafkaSourceEnumState> {
        private final SplitEnumerator<KafkaPartitionSplit, KafkaSourceEnumState> inner;
        private final SplitEnumeratorContext<KafkaPartitionSplit> context;

        Finishing(
                SplitEnumerator<KafkaPartitionSplit, KafkaSourceEnumState> inner,
                SplitEnumeratorContext<KafkaPartitionSplit> context) {
            this.inner = inner;
            this.context = context;
        }

        @Override
        public void start() {
            inner.start();
        }

        @Override
        public void handleSplitRequest(int subtaskId, String requesterHostname) {
            inner.handleSplitRequest(subtaskId, requesterHostname);
        }

        @Override
        public void addSplitsBack(List<KafkaPartitionSplit> splits, int subtaskId) {
            inner.addSplitsBack(splits, subtaskId);
        }

        @Override
        public void addReader(int subtaskId) {
            inner.addReader(subtaskId);
            context.signalNoMoreSplits(subtaskId);
        }

        @Override
        public KafkaSourceEnumState snapshotState(long checkpointId) throws Exception {
            return inner.snapshotState(checkpointId);
        }

        @Override
        public void close() throws java.io.IOException {
            inner.close();
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) throws Exception {
            inner.notifyCheckpointComplete(checkpointId);
        }

        @Override
        public void notifyCheckpointAborted(long checkpointId) throws Exception {
            inner.notifyCheckpointAborted(checkpointId);
        }

        @Override
        public void handleSourceEvent(int subtaskId, SourceEvent sourceEvent) {
            inner.handleSourceEvent(subtaskId, sourceEvent);
        }
    }
}
