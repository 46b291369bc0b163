"""Glue entry scripts and the CloudFormation template (installed as gtlake.glue so `gtlake deploy` finds them)."""
