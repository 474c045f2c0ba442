"""drsorch.sim"""
