package fluvial.flink;

import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;

/**
 * Per-partition watermarks of a Kafka read, after fluvial has decoded the records in Python (so
 * the event time may come from the value). One instance per source subtask, chained behind it.
 *
 * <p>Input and output: {@code Tuple4<Integer kind, Long time, byte[] payload, Integer slot>}, where
 * {@code slot} is the index of the record's partition in the read's partition list. Kind {@link
 * ScriptRecords#ELEMENT} is an element at event time {@code time} (passed on with that record
 * timestamp); kind {@link #FINISHED} says partition {@code slot} reached its stop offset (dropped
 * here).
 *
 * <p>The rules are fluvial's (sdk/watermarks.py): a partition's watermark is its highest event
 * time minus {@code delayMs} (none before its first record); a partition without records for
 * {@code idleMs} of processing time (counted from the start of the read) is left out until its
 * next record; a finished partition is left out for good; the subtask's watermark is the minimum
 * over the partitions it reads that are left in, never moving backwards; when all of them are
 * idle the subtask is marked idle. The partitions this subtask reads are those Flink's
 * KafkaSource assigns to it ({@code KafkaSourceEnumerator.getSplitOwner}: the topic's hash times
 * 31, plus the partition, modulo the parallelism). Checked every {@code intervalMs}. The end of
 * the input (Flink's final watermark) is passed on.
 */
public class PartitionWatermarks extends AbstractStreamOperator<Tuple4<Integer, Long, byte[], Integer>>
        implements OneInputStreamOperator<Tuple4<Integer, Long, byte[], Integer>, Tuple4<Integer, Long, byte[], Integer>>,
                ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    /** A partition reached its stop offset; matches runners/flink/kafka_functions.py. */
    public static final int FINISHED = 16;

    private final String[] topics;
    private final int[] partitions;
    private final boolean[] finishedAtStart;
    private final long delayMs;
    private final long idleMs;
    private final long intervalMs;

    private transient boolean[] owned;
    private transient boolean[] finished;
    private transient long[] maxTs;
    private transient long[] lastActive;
    private transient long current;
    private transient boolean idle;

    /**
     * @param idleMs the idle timeout, or a negative value for none
     */
    public PartitionWatermarks(
            String[] topics,
            int[] partitions,
            boolean[] finishedAtStart,
            long delayMs,
            long idleMs,
            long intervalMs) {
        this.topics = topics;
        this.partitions = partitions;
        this.finishedAtStart = finishedAtStart;
        this.delayMs = delayMs;
        this.idleMs = idleMs;
        this.intervalMs = intervalMs;
    }

    static int owner(String topic, int partition, int readers) {
        int start = ((topic.hashCode() * 31) & 0x7FFFFFFF) % readers;
        return (start + partition) % readers;
    }

    @Override
    public void open() throws Exception {
        super.open();
        int n = topics.length;
        int me = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        int readers = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
        long now = getProcessingTimeService().getCurrentProcessingTime();
        owned = new boolean[n];
        finished = new boolean[n];
        maxTs = new long[n];
        lastActive = new long[n];
        for (int i = 0; i < n; i++) {
            owned[i] = owner(topics[i], partitions[i], readers) == me;
            finished[i] = finishedAtStart[i];
            maxTs[i] = Long.MIN_VALUE;
            lastActive[i] = now;
        }
        current = Long.MIN_VALUE;
        idle = false;
        getProcessingTimeService().registerTimer(now + intervalMs, this);
    }

    @Override
    public void processElement(StreamRecord<Tuple4<Integer, Long, byte[], Integer>> element) {
        Tuple4<Integer, Long, byte[], Integer> r = element.getValue();
        int slot = r.f3;
        if (r.f0 == FINISHED) {
            finished[slot] = true;
            update();
            return;
        }
        long ts = r.f1;
        if (ts > maxTs[slot]) {
            maxTs[slot] = ts;
        }
        lastActive[slot] = getProcessingTimeService().getCurrentProcessingTime();
        if (idle) {
            idle = false;
            output.emitWatermarkStatus(WatermarkStatus.ACTIVE);
        }
        output.collect(element.replace(r, ts));
    }

    @Override
    public void onProcessingTime(long time) {
        update();
        getProcessingTimeService().registerTimer(time + intervalMs, this);
    }

    private void update() {
        if (current == Long.MAX_VALUE) {
            return;
        }
        long now = getProcessingTimeService().getCurrentProcessingTime();
        long min = Long.MAX_VALUE;
        boolean live = false;
        boolean open = false;
        for (int i = 0; i < owned.length; i++) {
            if (!owned[i] || finished[i]) {
                continue;
            }
            open = true;
            if (idleMs >= 0 && now - lastActive[i] >= idleMs) {
                continue;
            }
            live = true;
            long wm = maxTs[i] == Long.MIN_VALUE ? Long.MIN_VALUE : maxTs[i] - delayMs;
            min = Math.min(min, wm);
        }
        if (!live) {
            if (open && !idle) { // every partition still read is idle
                idle = true;
                output.emitWatermarkStatus(WatermarkStatus.IDLE);
            }
            return;
        }
        if (idle) {
            idle = false;
            output.emitWatermarkStatus(WatermarkStatus.ACTIVE);
        }
        if (min > current) {
            current = min;
            output.emitWatermark(new Watermark(current));
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        // the source emits no watermarks of its own; its final one ends the input
        if (mark.getTimestamp() == Long.MAX_VALUE && current != Long.MAX_VALUE) {
            current = Long.MAX_VALUE;
            if (idle) {
                idle = false;
                output.emitWatermarkStatus(WatermarkStatus.ACTIVE);
            }
            output.emitWatermark(mark);
        }
    }

    @Override
    public void processWatermarkStatus(WatermarkStatus status) {
        // this operator decides its own status
    }
}
