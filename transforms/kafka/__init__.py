"""Kafka IO in pure Python (kafka-python): ReadFromKafka and WriteToKafka."""
