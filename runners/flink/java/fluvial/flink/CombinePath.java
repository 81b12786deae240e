package fluvial.flink;

import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;

/**
 * Wires the Java combine path after the Python operator that feeds it batches: {@link
 * CombineInput} (explode) → keyBy({@link CombineKey}) → {@link WindowCombine} → {@link
 * ResultBatcher}, one py4j call from Python.
 */
public final class CombinePath {
    private CombinePath() {}

    public static DataStream<byte[]> build(DataStream<byte[]> batches, String name, String kind,
                                           long size, long period, long offset) {
        return batches
                .flatMap(new CombineInput())
                .name(name + "#explode")
                .keyBy(new CombineKey())
                .process(new WindowCombine(WindowCombine.kindOf(kind), size, period, offset))
                .name(name)
                .uid("fluvial/java-combine/" + name)
                .transform(name + "#batches", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO,
                        new ResultBatcher());
    }
}
