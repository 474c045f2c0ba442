"""drsorch.store"""
