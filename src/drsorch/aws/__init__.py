"""drsorch.aws"""
