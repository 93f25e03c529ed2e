"""The real-ROS tier's tools: a loopback ROS 2 environment, node processes, an rclpy client.

Everything stays on this host: ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a random
``ROS_DOMAIN_ID`` per test and ``ROS_HOME`` in the test's folder. The client is a plain rclpy node
in the test process (its own context, spun on a thread), so what it checks goes through the same
rcl services and topics that ``ros2 lifecycle`` / ``ros2 param`` / ``ros2 topic`` use.
"""
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ros_tier

BIN = pathlib.Path(sys.executable).parent
DISCOVERY_S = ros_tier.DISCOVERY_S
START_S = 60.0                  # a node's start (imports, model load) on a loaded 2-core machine


def need_ros():
    """Skip unless rclpy and vision_msgs import (``make ros`` installs both); a skip of a
    ``ros_tier`` test fails on CI (test/conftest.py)."""
    reason = ros_tier.missing()
    if reason:
        pytest.skip(reason)


def loopback_ros_env(tmp_path, monkeypatch) -> dict:
    """The tier's environment (``ros_tier.make_env``: loopback, a domain of its own, ROS_HOME in
    the test's folder, the shipped Fast DDS profile), set here too for the in-test client."""
    env = ros_tier.make_env(tmp_path)
    for key in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_HOME', 'ROS_LOG_DIR',
                'RMW_IMPLEMENTATION', 'FASTRTPS_DEFAULT_PROFILES_FILE',
                'FASTDDS_DEFAULT_PROFILES_FILE', 'RMW_FASTRTPS_PUBLICATION_MODE'):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv('ROS_LOCALHOST_ONLY', raising=False)
    return env


class NodeProcess:
    """``<executable> --ros-args ...`` in its own process; stdout and stderr go to files."""

    def __init__(self, tmp_path, env, executable, *ros_args):
        self.name = executable
        self.err_path = tmp_path / f'{executable}.{time.monotonic_ns()}.err'
        with open(self.err_path, 'w') as err:
            self.proc = subprocess.Popen([str(BIN / executable), '--ros-args', *ros_args],
                                         env=env, stdout=subprocess.DEVNULL, stderr=err)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def stop(self, sig=signal.SIGTERM, timeout=20.0) -> int:
        """Send ``sig`` and wait; the exit code (killed and failed after ``timeout`` s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f'{self.name} ignored {sig!r} for {timeout} s: {self.stderr}')

    def wait_exit(self, timeout=START_S) -> int:
        return self.proc.wait(timeout)


class RosClient:
    """An rclpy node in the test process: services, subscriptions and an image publisher."""

    def __init__(self, name='test_client'):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=int(os.environ['ROS_DOMAIN_ID']),
                   signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._spin, daemon=True)]
        self._threads[0].start()

    def _spin(self):
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def call(self, srv_type, name, request, timeout=DISCOVERY_S):
        """One service call; the response, or AssertionError naming what did not answer."""
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f'service {name} not found in {timeout} s')
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not future.done():
                raise AssertionError(f'service {name} did not answer in {timeout} s')
            return future.result()
        finally:
            self.node.destroy_client(client)

    def collect(self, msg_type, topic, qos=10):
        """A list that fills with (monotonic time, message) as ``topic`` delivers."""
        sink = []

        def on_msg(msg):
            with self.lock:
                sink.append((time.monotonic(), msg))
        self.node.create_subscription(msg_type, topic, on_msg, qos)
        return sink

    def publish_frames(self, topic, rate=15.0, size=(192, 128)):
        """Publish a bgr8 frame (a white square on black) every 1/rate s, stamped now, until
        close(); the publish times (monotonic) are appended to the returned list."""
        from sensor_msgs.msg import Image
        pub = self.node.create_publisher(Image, topic, 10)
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[30:54, 20:50] = 255
        sent = []

        def loop():
            while not self._stop.wait(1.0 / rate):
                msg = Image(height=size[1], width=size[0], encoding='bgr8', step=size[0] * 3)
                msg.data = frame.tobytes()
                msg.header.stamp = self.node.get_clock().now().to_msg()
                msg.header.frame_id = 'cam'
                pub.publish(msg)
                with self.lock:
                    sent.append(time.monotonic())
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return sent

    def close(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def wait_for(pred, timeout=DISCOVERY_S, step=0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def count_after(sink, t0, lock) -> int:
    """How many messages of ``sink`` arrived after monotonic time ``t0``."""
    with lock:
        return sum(1 for t, _ in sink if t > t0)
