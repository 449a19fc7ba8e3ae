"""Recording: the live graph to an MCAP bag in the rosbag2 layout, read back; bad paths.

``safe_pe_stack --record`` runs the live graph (no training) for a few seconds; the bag is read
back with the mcap / mcap-ros2-support readers (every message decoded with the schema the bag
carries) and checked against its ``metadata.yaml``. A path that cannot be a bag and a disk
that fills up give clear errors, and the stack keeps running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
import yaml

pytest.importorskip('mcap_ros2', reason='mcap-ros2-support is not installed: pip install -r '
                    'requirements.txt')
pytest.importorskip('rclpy', reason='rclpy is not installed: run scripts/setup.sh')
pytest.importorskip('safe_pe_msgs.msg', reason='safe_pe_msgs is not built: scripts/setup.sh')

from mcap.reader import make_reader  # noqa: E402
from mcap_ros2.decoder import DecoderFactory  # noqa: E402

from safe_pe_cbf.ros_common import testing as ros_testing  # noqa: E402
from safe_pe_training.bag import BagError, BagWriter, message_definition  # noqa: E402

LIVE_TOPICS = {
    '/safe_pe/game_state': 'safe_pe_msgs/msg/GameState',
    '/pursuer/cmd_vel_nominal': 'geometry_msgs/msg/Twist',
    '/pursuer/cmd_vel': 'geometry_msgs/msg/Twist',
    '/evader/cmd_vel': 'geometry_msgs/msg/Twist',
    '/pursuer/safety_status': 'safe_pe_msgs/msg/SafetyStatus',
    '/safe_pe/arena': 'safe_pe_msgs/msg/Arena',
}


def _stack(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_testing.test_domain_id(37)),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_LOG_DIR=str(tmp_path / 'log'))
    return subprocess.run(
        [sys.executable, '-m', 'safe_pe_training.ros.stack', '--budget', '0', '--duration',
         '4', '--run-dir', str(tmp_path / 'run'), '--quiet', *extra],
        capture_output=True, text=True, timeout=240, env=env)


def test_stack_records_the_live_graph_and_the_bag_reads_back(tmp_path):
    bag = tmp_path / 'bag'
    result = _stack(tmp_path, '--record', str(bag))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'bag: {bag}' in result.stdout

    info = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert info['storage_identifier'] == 'mcap' and info['relative_file_paths'] == ['bag_0.mcap']
    declared = {t['topic_metadata']['name']: (t['topic_metadata']['type'], t['message_count'])
                for t in info['topics_with_message_count']}

    counts: Counter = Counter()
    last_time = 0
    last_stamp: dict[str, int] = {}
    with open(bag / 'bag_0.mcap', 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == 'ros2'
        # every message decoded with the schema the bag carries
        for schema, channel, message, decoded in reader.iter_decoded_messages(
                log_time_order=False):
            topic = channel.topic
            assert schema.name == declared[topic][0] and channel.message_encoding == 'cdr'
            assert message.log_time > last_time, 'log times must increase in file order'
            last_time = message.log_time
            if topic == '/safe_pe/game_state':     # the simulator's own stamps increase too
                stamp = decoded.header.stamp.sec * 10**9 + decoded.header.stamp.nanosec
                assert stamp > last_stamp.get(topic, -1)
                last_stamp[topic] = stamp
            counts[topic] += 1
    assert info['message_count'] == sum(counts.values())
    assert {name: n for name, (_, n) in declared.items() if n} == dict(counts)
    for topic, type_name in LIVE_TOPICS.items():
        assert declared[topic][0] == type_name
        assert counts[topic] >= 1, f'nothing recorded on {topic}: {dict(counts)}'
    # 4 s of a 20 Hz game: the commands and states flowed the whole time
    assert counts['/safe_pe/game_state'] >= 20 and counts['/pursuer/cmd_vel'] >= 20
    # the latched arena is recorded although it was published before the recorder subscribed
    assert counts['/safe_pe/arena'] >= 1


@pytest.mark.parametrize('kind', ['existing file', 'non-empty directory', 'unwritable'])
def test_bad_record_path_is_an_error_and_the_stack_keeps_running(tmp_path, kind):
    if kind == 'existing file':
        bad = tmp_path / 'bag'
        bad.write_text('not a bag')
    elif kind == 'non-empty directory':
        bad = tmp_path / 'bag'
        bad.mkdir()
        (bad / 'keep.txt').write_text('mine')
    else:
        bad = tmp_path / 'no' / 'bag'
        (tmp_path / 'no').write_text('a file where a folder is needed')
    result = _stack(tmp_path, '--record', str(bad))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'recording failed (cannot record to' in result.stderr, result.stderr
    assert 'the live graph ran without it' in result.stderr
    assert (tmp_path / 'run' / 'safety_report.md').is_file()   # the graph ran to the end


def test_bag_writer_refuses_bad_paths_with_the_reason(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(BagError, match='exists and is not an empty directory'):
        BagWriter(tmp_path / 'file')
    with pytest.raises(BagError, match='cannot record to'):
        BagWriter(tmp_path / 'file' / 'bag')
    with pytest.raises(BagError, match='not installed'):
        message_definition('no_such_msgs/msg/Thing')


def test_full_disk_is_a_clear_error(tmp_path):
    """A file-size limit makes the kernel refuse writes as a full disk would (EFBIG)."""
    script = textwrap.dedent(f'''
        import resource, signal
        from safe_pe_training.bag import BagError, BagWriter
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
        bag = BagWriter({str(tmp_path / 'bag')!r})
        bag.add_topic('/t', 'std_msgs/msg/String')
        try:
            for _ in range(10_000):
                bag.write('/t', bytes(range(256)) * 40)
        except BagError as exc:
            print('error:', exc)
        ''')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'error: cannot write to' in result.stdout and 'bag_0.mcap' in result.stdout, \
        result.stdout + result.stderr
