"""The packages gtlake installs and the folders they come from, stated once.

`setup.py` builds from this mapping, `gtlake deploy` copies these folders to build the wheel, and the layer
test reads it to tell which folder a module is in. The repository keeps the documented layout (`jobs/`, `udfs/`,
`sql/`, `glue/` beside `gtlake/`), and the wheel shipped to Glue has one namespace, `gtlake`. Plain data: it is
read by setup.py before anything is installed.
"""
PACKAGE_DIR = {
    "gtlake": "gtlake",
    "gtlake.cli": "gtlake/cli",
    "gtlake.sample": "gtlake/sample",
    "gtlake.jobs": "jobs",
    "gtlake.udfs": "udfs",
    "gtlake.sql": "sql",  # the Athena DDL and views (data)
    "gtlake.glue": "glue",  # the Glue entry scripts and the CloudFormation template (data)
}
PACKAGE_DATA = {
    "gtlake": ["log4j2.properties", "static/*"],
    "gtlake.sql": ["views/*.sql", "tables/*.sql"],
    "gtlake.glue": ["*.yaml"],
}


def source_folders() -> list[str]:
    """The top-level folders of the repository that the packages come from."""
    return sorted({folder.split("/")[0] for folder in PACKAGE_DIR.values()})
