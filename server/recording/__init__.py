"""Recording: one file per recorded track, written by a GStreamer process fed over plain RTP.

``manager`` (what the REST API and ``Sfu`` use) -> ``session`` (one recording of a room) ->
``track`` (one producer: PlainTransport + consumer + recorder process) -> ``recorder`` (the
gst-launch-1.0 child); ``pipeline`` builds its command line, ``store`` keeps the files and their
metadata on disk, ``disk`` keeps its free space above a floor, ``probe`` reads a file's duration,
``plugins`` finds the formats this host's GStreamer lacks elements for.
"""
