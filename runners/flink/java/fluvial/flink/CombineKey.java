package fluvial.flink;

import org.apache.flink.api.java.functions.KeySelector;

/** The key of a {@link CombineElement}: its pickled key as a string. */
public class CombineKey implements KeySelector<CombineElement, String> {
    private static final long serialVersionUID = 1L;

    @Override
    public String getKey(CombineElement e) {
        return e.key;
    }
}
