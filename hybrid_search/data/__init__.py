"""Data contracts and file I/O: functions (corpus), queries, relevance annotations, predictions."""
