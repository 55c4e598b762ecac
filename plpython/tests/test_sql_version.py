"""mediatag_ml.sql_version: the body of mediatag.version, run with a fake plpy."""

from __future__ import annotations

import json
import platform

import numpy
from fake_plpy import FakePlpy

from mediatag_ml import sql_version


def test_version_names_every_component_and_the_package_folder():
    plpy = FakePlpy(
        {
            "FROM pg_extension": [
                {"extname": "mediatag", "extversion": "0.2.0"},
                {"extname": "vector", "extversion": "0.8.0"},
            ],
            "server_version": [{"v": "15.8"}],
        }
    )
    v = json.loads(sql_version.version(plpy, "/usr/share/postgresql/15/extension/mediatag_python/0.2.0"))
    assert v["mediatag"] == "0.2.0" and v["pgvector"] == "0.8.0" and v["postgres"] == "15.8"
    assert v["python"] == platform.python_version() and v["numpy"] == numpy.__version__
    assert v["scipy"] and v["sklearn"]
    assert v["ml_package"] == "/usr/share/postgresql/15/extension/mediatag_python/0.2.0"


def test_a_missing_extension_is_null():
    plpy = FakePlpy(
        {"FROM pg_extension": [{"extname": "mediatag", "extversion": "0.2.0"}], "server_version": [{"v": "15"}]}
    )
    assert json.loads(sql_version.version(plpy, "/x"))["pgvector"] is None
