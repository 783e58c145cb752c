"""A real single-node Apache Kafka (KRaft) from Maven Central, for tests, the demo and newcomers."""

from tracelake.localkafka.broker import (
    KAFKA_VERSION,
    LocalKafka,
    LocalKafkaError,
    cache_dir,
    check_java,
    free_port,
    install,
)

__all__ = ["KAFKA_VERSION", "LocalKafka", "LocalKafkaError", "cache_dir", "check_java", "free_port", "install"]
