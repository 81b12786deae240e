package fluvial.flink;

import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.api.java.tuple.Tuple3;

/**
 * Drops the {@link ScriptRecords#WATERMARK} records of a scripted stream once
 * {@link ScriptedWatermarkStrategy} has turned them into Flink watermarks; elements and clock
 * records pass.
 */
public class ScriptMarkerFilter implements FilterFunction<Tuple3<Integer, Long, byte[]>> {
    private static final long serialVersionUID = 1L;

    @Override
    public boolean filter(Tuple3<Integer, Long, byte[]> record) {
        return record.f0 != ScriptRecords.WATERMARK;
    }
}
