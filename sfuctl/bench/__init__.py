"""`sfuctl bench`: load against a live server through its public interfaces only.

Three modes: ``signaling`` (many lightweight peers, request latency), ``fanout`` (one RTP
publisher, K cheap receivers, loss and jitter), ``join`` (WebSocket open to first decoded frame).
"""
