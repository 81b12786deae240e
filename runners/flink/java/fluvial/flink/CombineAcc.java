package fluvial.flink;

/**
 * The accumulator of one key and window on the Java combine path (a Flink POJO): a {@link
 * PyNumber} (tag and payload) and a count. Sum and mean keep the running sum (an int from 0),
 * count the count, min and max the extreme value so far ({@link PyNumber#NONE} before the
 * first).
 */
public class CombineAcc {
    public byte tag;
    public long l;
    public double d;
    public String big;
    public long count;

    public CombineAcc() {}
}
