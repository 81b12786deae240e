package fluvial.flink;

/**
 * Kinds of the records of a scripted stream (field {@code f0}); the same numbers are defined in
 * runners/flink/records.py.
 *
 * <p>A scripted stream (fluvial's TestStream, or a bounded Python source read with a watermark
 * strategy) is a stream of {@code Tuple3<Integer kind, Long time, byte[] payload>}:
 *
 * <ul>
 *   <li>{@link #ELEMENT}: {@code time} is the element's event time, {@code payload} the pickled
 *       element;
 *   <li>{@link #WATERMARK}: the watermark advances to {@code time} right after this record;
 *   <li>{@link #CLOCK}: scripted processing time is now {@code time} (absolute, so a marker that
 *       reaches an operator twice, e.g. through a Flatten, advances nothing the second time);
 *   <li>{@link #BATCH}: {@code payload} is a pickled batch of elements (a columnar batch a
 *       source read at once), each at its own event time; {@code time} is the latest.
 * </ul>
 */
public final class ScriptRecords {
    public static final int ELEMENT = 0;
    public static final int WATERMARK = 1;
    public static final int CLOCK = 2;
    public static final int BATCH = 3;

    private ScriptRecords() {}
}
