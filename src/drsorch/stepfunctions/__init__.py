"""drsorch.stepfunctions"""
