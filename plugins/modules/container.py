#!/usr/bin/python
# Copyright: (c) 2026, berth developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The berth.engine.container module: one container converged to a state, idempotently."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: container
short_description: Manage berth containers
version_added: "0.1.0"
description:
  - Creates, starts, stops, restarts and removes containers of the berth engine, with the options
    of C(berth run) (and C(docker run)) spelled as in community.docker.docker_container.
  - No Docker daemon and no runc are needed; the engine keeps its state under E(BERTH_ROOT).
  - Idempotent. The options that created a container are stored with it, and a run compares the
    task's options with them, never with a reading of inspect output. Values the image supplies
    (its CMD, ENV, labels, user, working directory) never cause a change.
  - Memory, CPU and pids limits and the restart policy are changed in place, without re-creating
    the container; so are the networks it joins (when the engine can connect containers). Any
    other difference, or an image whose ID behind the name changed, re-creates the container.
author:
  - berth developers (@berth-developers)
options:
  name:
    description: The container's name (letters, digits, C(_), C(.) and C(-)).
    type: str
    required: true
  image:
    description:
      - The image, C(name[:tag]) or C(name@digest), or an image ID.
      - Required to create a container. Without it, the task only converges the state of an
        existing container.
    type: str
  state:
    description:
      - V(present) - the container exists (created, not started if it is new).
      - V(started) - the container exists and runs.
      - V(stopped) - the container exists and does not run.
      - V(restarted) - the container runs and is restarted by this task.
      - V(healthy) - the container runs and its healthcheck reports healthy (waits up to
        O(healthy_wait_timeout) seconds; fails when it reports unhealthy or has no healthcheck).
      - V(absent) - the container is removed (a running one is stopped first).
    type: str
    choices: [present, started, stopped, absent, restarted, healthy]
    default: started
  command:
    description:
      - The command to run, replacing the image's CMD. A string is split as a shell would; a list
        is taken as it is.
    type: raw
  entrypoint:
    description: Replaces the image's ENTRYPOINT. An empty list resets it (and the image's CMD).
    type: list
    elements: str
  env:
    description: Environment variables. Values are strings (quote numbers and booleans in YAML).
    type: dict
  env_file:
    description: A file of C(KEY=value) lines on the managed host, read before O(env).
    type: path
  user:
    description: The user (and group), C(name|uid[:group|gid]), replacing the image's USER.
    type: str
  working_dir:
    description: The working directory, an absolute path, replacing the image's WORKDIR.
    type: str
  hostname:
    description: The container's host name (default - the first 12 characters of its ID).
    type: str
  domainname:
    description: The container's NIS domain name.
    type: str
  labels:
    description: Labels of the container, added to those of the image.
    type: dict
  restart_policy:
    description: What to do when the container exits. Changed in place.
    type: str
    choices: ["no", on-failure, always, unless-stopped]
  restart_retries:
    description: How many restarts O(restart_policy=on-failure) makes at most.
    type: int
  memory:
    description: Memory limit, such as C(512m) or C(1g); C(0) is no limit. Changed in place.
    type: str
  memory_swap:
    description: Memory plus swap limit (C(-1) - unlimited swap). Changed in place.
    type: str
  memory_reservation:
    description: Memory soft limit. Changed in place.
    type: str
  cpus:
    description: How many CPUs the container may use, such as C(1.5). Changed in place.
    type: float
  cpu_shares:
    description: Relative CPU weight. Changed in place.
    type: int
  cpuset_cpus:
    description: CPUs the container may run on, such as C(0-2,4). Changed in place.
    type: str
  pids_limit:
    description: Maximum number of processes (C(-1) or C(0) - unlimited). Changed in place.
    type: int
  oom_kill_disable:
    description: Do not let the OOM killer kill the container's processes.
    type: bool
    default: false
  capabilities:
    description: Capabilities to add, such as C(NET_ADMIN) (C(CAP_) optional), or C(ALL).
    type: list
    elements: str
  cap_drop:
    description: Capabilities to drop, or C(ALL).
    type: list
    elements: str
  privileged:
    description: Every capability, every host device, no seccomp filter.
    type: bool
    default: false
  security_opts:
    description:
      - Security options as C(docker run --security-opt) takes them, such as
        C(no-new-privileges), C(seccomp=unconfined) or C(seccomp=/path/profile.json).
    type: list
    elements: str
  read_only:
    description: Mount the container's root filesystem read-only.
    type: bool
    default: false
  tmpfs:
    description: tmpfs mounts, C(/path[:options]), such as C(/run:size=64m).
    type: list
    elements: str
  init:
    description: Run an init as PID 1 that forwards signals and reaps orphaned processes.
    type: bool
    default: false
  stop_signal:
    description: The signal that stops the container (default - the image's, else C(SIGTERM)).
    type: str
  stop_timeout:
    description: Seconds to wait after the stop signal before killing (default 10).
    type: int
  detach:
    description:
      - With V(false), a task that starts the container waits for it to exit, returns its exit
        code in RV(status) and its output in C(Output) of RV(container), and fails on a non-zero
        exit.
    type: bool
    default: true
  auto_remove:
    description: Remove the container when it exits (C(docker run --rm)).
    type: bool
    default: false
  tty:
    description: Allocate a pseudo-terminal.
    type: bool
    default: false
  interactive:
    description: Keep the container's standard input open.
    type: bool
    default: false
  published_ports:
    description:
      - Ports to publish, as C(docker run -p) takes them - C(8080:80), C(127.0.0.1:8080:80/udp),
        C(80) (a free host port), ranges such as C(8000-8001:80-81); V(all) publishes every exposed
        port, as O(publish_all_ports) does.
    type: list
    elements: str
    aliases: [ports]
  publish_all_ports:
    description: Publish every port the image or O(exposed_ports) exposes onto a free host port.
    type: bool
    default: false
  exposed_ports:
    description: Ports to expose besides the image's, such as C(8080) or C(53/udp).
    type: list
    elements: str
    aliases: [exposed, expose]
  networks:
    description:
      - Networks to join. The first is the container's main network (its network mode) unless
        O(network_mode) is given. Joined and left in place when the engine can.
      - An empty list leaves the container with no network but loopback.
    type: list
    elements: dict
    suboptions:
      name:
        description: The network's name.
        type: str
        required: true
      aliases:
        description: Other names of the container on this network.
        type: list
        elements: str
      ipv4_address:
        description: A fixed IPv4 address on this network.
        type: str
  network_mode:
    description: V(bridge) (default), V(host), V(none), C(container:<name>) or a network's name.
    type: str
  mounts:
    description: Mounts, as C(docker run --mount) takes them.
    type: list
    elements: dict
    suboptions:
      target:
        description: Path inside the container.
        type: str
        required: true
      source:
        description: Host path for a bind mount, volume name for a volume (none - an anonymous volume).
        type: str
      type:
        description: The kind of mount.
        type: str
        choices: [bind, volume, tmpfs]
        default: volume
      read_only:
        description: Mount read-only.
        type: bool
        default: false
      propagation:
        description: Mount propagation of a bind mount.
        type: str
        choices: [private, rprivate, shared, rshared, slave, rslave]
      no_copy:
        description: Do not fill a new empty volume with the image's content at the target.
        type: bool
        default: false
      tmpfs_size:
        description: Size of a tmpfs mount, such as C(64m).
        type: str
      tmpfs_mode:
        description: Octal mode of a tmpfs mount's root, such as C(1777).
        type: str
  volumes:
    description:
      - Volumes and bind mounts as C(docker run -v) takes them - C(/path) (an anonymous volume),
        C(name:/path[:ro]), C(/host/path:/path[:ro,rshared]).
    type: list
    elements: str
  volumes_from:
    description: Containers whose volumes to mount too, C(name[:ro|rw]).
    type: list
    elements: str
  dns_servers:
    description: DNS servers for the container's resolv.conf.
    type: list
    elements: str
  dns_search_domains:
    description: DNS search domains.
    type: list
    elements: str
  dns_opts:
    description: resolv.conf options, such as C(ndots:2).
    type: list
    elements: str
  etc_hosts:
    description: Extra C(/etc/hosts) entries, host name to IP address (or C(host-gateway)).
    type: dict
  log_driver:
    description: The logging driver (C(docker logs) reads C(json-file) and C(local)).
    type: str
    choices: [json-file, local, none]
  log_options:
    description: Options of the logging driver, such as C(max-size) and C(max-file).
    type: dict
    aliases: [log_opt]
  healthcheck:
    description:
      - A healthcheck, replacing the image's HEALTHCHECK. O(healthcheck.test=[NONE]) disables the
        image's check.
    type: dict
    suboptions:
      test:
        description:
          - The command, a string (run by C(/bin/sh -c)) or a list (C(CMD) form; a list may begin
            with C(CMD), C(CMD-SHELL) or C(NONE)).
        type: raw
      interval:
        description: Time between checks, such as C(30s) or C(1m30s).
        type: str
      timeout:
        description: Time a check may take.
        type: str
      start_period:
        description: Time for the container to start before failures count.
        type: str
      retries:
        description: Consecutive failures that make the container unhealthy.
        type: int
  healthy_wait_timeout:
    description: Seconds O(state=healthy) waits for the container to become healthy.
    type: float
    default: 300
  sysctls:
    description: Namespaced kernel parameters (C(net.*), IPC ones).
    type: dict
  ulimits:
    description: Resource limits, C(name:soft[:hard]) such as C(nofile:1024:2048).
    type: list
    elements: str
  recreate:
    description: Re-create the container even when nothing differs.
    type: bool
    default: false
  pull:
    description:
      - V(missing) - pull the image when it is not in the store.
      - V(always) - ask the registry on each run; a newer image re-creates the container.
      - V(never) - use the store only.
    type: str
    choices: [missing, always, never]
    default: missing
  platform:
    description: The platform to pull, such as C(linux/arm64) (default - the host's).
    type: str
  comparisons:
    description:
      - How options are compared with the existing container, option name to V(strict) (the
        default) or V(ignore). C(image) compares the image ID behind the name.
      - The key C(*) with V(ignore) compares only the options the task sets (and those listed as
        V(strict)).
    type: dict
  force_kill:
    description: Kill the container instead of stopping it gracefully, on stop and removal.
    type: bool
    default: false
  keep_volumes:
    description: Keep the container's anonymous volumes when it is removed.
    type: bool
    default: true
  removal_wait_timeout:
    description:
      - Accepted for community.docker compatibility. berth removes a container before the task
        returns, so no wait is needed.
    type: float
notes:
  - Supports check mode (nothing is touched; the result lists what would be done) and diff mode
    (the stored options and run status before and after).
  - The result RV(container) is shaped like C(docker inspect) output.
seealso:
  - module: berth.engine.containers
  - module: berth.engine.image
  - module: berth.engine.network
  - module: berth.engine.volume
"""

EXAMPLES = r"""
- name: A web server, published on the host's port 8080
  berth.engine.container:
    name: web
    image: nginx:1.25
    published_ports: ["8080:80"]
    env:
      NGINX_PORT: "80"
    restart_policy: unless-stopped
    memory: 256m

- name: A database on a user network, with a named volume and a healthcheck
  berth.engine.container:
    name: db
    image: postgres:16
    networks:
      - name: app
        aliases: [database]
    volumes:
      - pgdata:/var/lib/postgresql/data
    env:
      POSTGRES_PASSWORD: "{{ db_password }}"
    healthcheck:
      test: ["CMD", "pg_isready"]
      interval: 5s
      retries: 10
    state: healthy

- name: Raise a limit without re-creating the container
  berth.engine.container:
    name: web
    image: nginx:1.25
    published_ports: ["8080:80"]
    env:
      NGINX_PORT: "80"
    restart_policy: unless-stopped
    memory: 512m

- name: Run a one-off command and collect its output
  berth.engine.container:
    name: migrate
    image: myapp:2.1
    command: ["myapp", "migrate"]
    detach: false
    auto_remove: true
  register: migration

- name: Only the image and the command matter for this one
  berth.engine.container:
    name: worker
    image: busybox
    command: sleep 3600
    comparisons:
      "*": ignore
      image: strict
      command: strict

- name: Stop it
  berth.engine.container:
    name: worker
    state: stopped

- name: Remove it, with its anonymous volumes
  berth.engine.container:
    name: worker
    state: absent
    keep_volumes: false
"""

RETURN = r"""
container:
  description:
    - The container as C(berth inspect) (and C(docker inspect)) shows it; empty once removed, and
      in check mode for a container that does not exist yet.
    - With O(detach=false), C(Output) holds what the container wrote.
  returned: always
  type: dict
  sample:
    Id: 3c0ef0d2a1b7b1b2c0ef0d2a1b7b1b2c0ef0d2a1b7b1b2c0ef0d2a1b7b1b2c0e
    Name: /web
    Image: sha256:6e31a5dbf57ce5a48b1903a5b9dc6497d417f88c1577416a20e4dcd0261f43ff
    State: {Status: running, Running: true, Pid: 4242, ExitCode: 0}
    Config: {Image: "nginx:1.25", Env: ["NGINX_PORT=80"], Cmd: ["nginx", "-g", "daemon off;"]}
    HostConfig: {Memory: 268435456, RestartPolicy: {Name: unless-stopped, MaximumRetryCount: 0}}
    NetworkSettings: {Ports: {"80/tcp": [{HostIp: "0.0.0.0", HostPort: "8080"}]}}
status:
  description: The exit code of a container run with O(detach=false).
  returned: when the task started a container with O(detach=false)
  type: int
  sample: 0
actions:
  description:
    - What was done (or would be done in check mode), in order - C(pull ...), C(remove),
      C(create), C(update), C(network), C(start), C(stop), C(restart) - then C(differs - <option>)
      for each option that differs from the existing container.
  returned: always
  type: list
  elements: str
  sample: ["remove", "create", "start", "differs: env"]
"""

from ansible_collections.berth.engine.plugins.module_utils._boot import engine  # noqa: E402


def main() -> None:
    # the argument spec is shared with berth.engine.containers' items
    engine("_ansible").run_module("container", engine("containers.argspec").ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
