package fluvial.flink;

import org.apache.flink.api.common.eventtime.TimestampAssigner;
import org.apache.flink.api.common.eventtime.TimestampAssignerSupplier;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.java.tuple.Tuple3;

/**
 * A punctuated watermark strategy for scripted streams (see {@link ScriptRecords}): the
 * watermark moves only when a {@link ScriptRecords#WATERMARK} record passes, to exactly that
 * record's time, and never periodically. Flink's watermark operator emits the record first and
 * the watermark right after it, so with a source of parallelism 1 the watermark every
 * downstream operator sees follows the script exactly.
 *
 * <p>The record timestamp Flink assigns is the record's {@code time} field (an element's event
 * time).
 */
public class ScriptedWatermarkStrategy implements WatermarkStrategy<Tuple3<Integer, Long, byte[]>> {
    private static final long serialVersionUID = 1L;

    @Override
    public WatermarkGenerator<Tuple3<Integer, Long, byte[]>> createWatermarkGenerator(
            WatermarkGeneratorSupplier.Context context) {
        return new Generator();
    }

    @Override
    public TimestampAssigner<Tuple3<Integer, Long, byte[]>> createTimestampAssigner(
            TimestampAssignerSupplier.Context context) {
        return (record, previous) -> record.f1;
    }

    /** Emits {@code Watermark(time)} for each watermark record that moves it forward. */
    static final class Generator implements WatermarkGenerator<Tuple3<Integer, Long, byte[]>> {
        private long current = Long.MIN_VALUE;

        @Override
        public void onEvent(Tuple3<Integer, Long, byte[]> record, long timestamp, WatermarkOutput out) {
            if (record.f0 == ScriptRecords.WATERMARK && record.f1 > current) {
                current = record.f1;
                out.emitWatermark(new Watermark(current));
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput out) {
            // punctuated only: the script alone moves the watermark
        }
    }
}
