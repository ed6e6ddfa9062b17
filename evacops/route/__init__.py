"""Exact evacuation routing on node/edge networks, and the CCRP baseline."""
