"""Where messages come from: a consumer backend interface with Kafka and in-memory implementations."""
