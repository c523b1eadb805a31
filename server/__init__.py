"""sfuctl server: the signaling server and the Python controller of the mediasoup worker."""

__version__ = "0.1.0"
