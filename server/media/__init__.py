"""Python controller of the mediasoup C++ worker (Worker -> Router -> Transport -> Producer/Consumer)."""
