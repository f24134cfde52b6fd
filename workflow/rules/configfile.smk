# Before `configfile:` reads config/config.yaml: Snakemake says only "Config file is not valid
# JSON or YAML"; this names the file, line and column.


def _parse_or_explain(path):
    import yaml

    try:
        with open(path) as f:
            yaml.safe_load(f)
    except FileNotFoundError:
        return
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = (
            f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        )
        raise WorkflowError(f"config file {where}: {getattr(e, 'problem', None) or e}")


_parse_or_explain("config/config.yaml")
