package fluvial.flink.kafka;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import @KAFKA@.clients.producer.ProducerRecord;

/**
 * Turns the byte array fluvial's Python encoder prepared (runners/flink/kafka_functions.py) into
 * a Kafka record. Big-endian:
 *
 * <pre>
 *   bytes topic (UTF-8) | bytes key | bytes value | long timestamp (Long.MIN_VALUE: none)
 * </pre>
 *
 * where {@code bytes} is an int length (-1 for null) followed by that many bytes. The record
 * goes to the partition Kafka's partitioner picks for its key.
 */
public class KafkaBytesSerializer implements KafkaRecordSerializationSchema<byte[]> {
    private static final long serialVersionUID = 1L;

    @Override
    public ProducerRecord<byte[], byte[]> serialize(
            byte[] element, KafkaRecordSerializationSchema.KafkaSinkContext context, Long timestamp) {
        try {
            DataInputStream data = new DataInputStream(new ByteArrayInputStream(element));
            String topic = new String(bytes(data), StandardCharsets.UTF_8);
            byte[] key = bytes(data);
            byte[] value = bytes(data);
            long ts = data.readLong();
            return new ProducerRecord<>(topic, null, ts == Long.MIN_VALUE ? null : ts, key, value);
        } catch (IOException e) {
            throw new UncheckedIOException("malformed record from fluvial's Kafka encoder", e);
        }
    }

    private static byte[] bytes(DataInputStream data) throws IOException {
        int n = data.readInt();
        if (n < 0) {
            return null;
        }
        byte[] b = new byte[n];
        data.readFully(b);
        return b;
    }
}
