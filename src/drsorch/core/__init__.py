"""drsorch.core"""
