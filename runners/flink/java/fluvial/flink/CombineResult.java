package fluvial.flink;

/**
 * What {@link WindowCombine} emits (a Flink POJO): a window's result ({@link #RESULT}: key,
 * window bounds, the value as a {@link PyNumber}), an element dropped as late ({@link
 * #DROPPED}), or a clock advance passed on ({@link #TICK}, at {@code start}).
 */
public class CombineResult {
    public static final byte RESULT = 0;
    public static final byte DROPPED = 1;
    public static final byte TICK = 2;

    public byte kind;
    public String key;
    public long start;
    public long end;
    public byte tag;
    public long l;
    public double d;
    public String big;

    public CombineResult() {}
}
