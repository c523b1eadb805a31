"""The managed TURN server: coturn, configured, started and watched by sfuctl (``--turn``).

``settings`` is the plain configuration, ``credentials`` mints the ephemeral TURN REST
credentials and the ``iceServers`` a peer gets, ``config`` writes coturn's ``turnserver.conf``
and ``supervisor`` runs coturn as a child process.
"""
