"""drsorch: an execution engine for disaster-recovery plans on AWS Elastic Disaster Recovery."""

__version__ = "0.1.0"
