# Before `configfile:` reads config/config.yaml: Snakemake says only "Config file is not valid
# JSON or YAML" (and takes the last of two equal keys); this names the file, line and column.


def _parse_or_explain(path):
    import yaml

    from trickbench.config import (
        load_yaml,
    )  # rejects duplicate keys, which Snakemake's reader keeps

    try:
        with open(path) as f:
            load_yaml(f.read())
    except FileNotFoundError:
        return
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = (
            f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        )
        raise WorkflowError(f"config file {where}: {getattr(e, 'problem', None) or e}")


_parse_or_explain("config/config.yaml")
