"""Several sfuctl nodes sharing rooms through Redis: the node registry, room membership across
nodes, signed node-to-node messages on Redis Streams, and pipes that carry media between nodes.

``Cluster`` (``cluster.py``) is the one object ``server/sfu.py`` builds when ``--redis`` is given.
"""
