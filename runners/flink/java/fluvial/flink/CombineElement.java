package fluvial.flink;

/**
 * One element on the Java combine path (a Flink POJO): the pickled key (as an ISO-8859-1
 * string, so that keys compare and hash by content), the event timestamp in ms, and the value
 * as a {@link PyNumber} tag with its bits (a long, or a double's raw bits). {@code tick} marks a
 * scripted clock advance to {@code timestamp} travelling with the elements.
 */
public class CombineElement {
    public String key;
    public long timestamp;
    public byte tag;
    public long bits;
    public boolean tick;

    public CombineElement() {}
}
