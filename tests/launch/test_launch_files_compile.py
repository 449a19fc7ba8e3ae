"""Every launch file byte-compiles here; with ROS 2 launch installed it also describes itself."""

from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path

import pytest

LAUNCH_DIR = Path(__file__).resolve().parents[2] / 'launch'
LAUNCH_FILES = sorted(LAUNCH_DIR.glob('*.launch.py'))
EXPECTED = {'sim_training.launch.py', 'deploy_filter.launch.py', 'sim_eval.launch.py'}


def test_the_three_launch_files_exist():
    assert EXPECTED <= {p.name for p in LAUNCH_FILES}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_byte_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / 'out.pyc'), doraise=True)


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_generate_launch_description(path):
    # launch_ros first: without ROS 2 launch, `import launch` could find the repository's
    # own launch/ directory as a namespace package.
    pytest.importorskip('launch_ros', reason='ROS 2 launch_ros is not installed (not on '
                        'PyPI); run on a ROS 2 install to check the launch descriptions')
    pytest.importorskip('launch', reason='ROS 2 launch is not installed')
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    arguments = [a for a in description.entities if isinstance(a, DeclareLaunchArgument)]
    assert arguments and all(a.description and a.description != 'no description given'
                             for a in arguments)
