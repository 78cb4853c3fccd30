//! The chaos harness behind `zkchaos` and `scripts/chaos.sh`: real
//! `zkserver` ensembles ([`cluster`]), client workloads on our client
//! library and on kazoo with every operation recorded ([`run`]), a seeded
//! nemesis ([`nemesis`]: kill -9 and SIGSTOP of members and of the leader,
//! partitions inside the harness's network namespace, a full disk, damaged
//! txn logs and snapshots from [`damage`]), and the checks ([`linear`]:
//! Wing–Gong/Lowe linearizability of each register's writes; the set,
//! unique-id, counter, queue, ephemeral, read-order and member-agreement
//! checks in [`run`]).

pub mod cluster;
pub mod damage;
pub mod linear;
pub mod nemesis;
pub mod run;
