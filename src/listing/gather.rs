//! What `ptenv ls` lists: ptenv's containers on the engine (this machine's, or `--host`'s).
//! Without `all_users` another user's environments are left out on this machine (an engine
//! reached with `--host` has users of its own, so all are shown there).

use super::Listed;
use crate::context::Ctx;
use crate::engine::container::Found;
use crate::engine::{block_on, Engine};
use crate::error::Result;
use crate::ownership::{owner, Who};

/// The containers `ptenv ls` shows, and how many of other users it left out.
pub struct Listing {
    pub containers: Vec<Listed>,
    pub hidden: usize,
}

/// Lists the engine's ptenv containers, with what their idle watchers left.
pub fn gather(ctx: &Ctx, all_users: bool) -> Result<Listing> {
    let me = crate::project::user();
    let who = Who {
        me: &me,
        my_uid: rustix::process::geteuid().as_raw(),
        named: &[],
    };
    block_on(async {
        let engine = Engine::connect().await?;
        let mut list = engine.list(None).await?;
        let hidden = if all_users || ctx.machine.is_remote() {
            0
        } else {
            let before = list.len();
            list.retain(|c| who.may_remove(owner(&c.labels).as_deref()));
            before - list.len()
        };
        // At once: one small request each, so a long list costs about one round trip.
        let containers =
            futures_util::future::join_all(list.into_iter().map(|c| watched(&engine, c))).await;
        Ok(Listing { containers, hidden })
    })
}

/// `c` with what its idle watcher (its label) left: the activity file's time (any state), and
/// for a stopped one its last output lines, where the watcher says why it stopped. The
/// activity file is read with the archive endpoint's `HEAD` (no process in the container,
/// nothing archived). Unknown where the engine cannot answer.
async fn watched(engine: &Engine, c: Found) -> Listed {
    if c.label(crate::idle::LABEL).is_empty() {
        return Listed {
            found: c,
            stopped_idle: None,
            last_activity: None,
        };
    }
    let stopped_idle = match c.state == "exited" {
        true => engine
            .log_tail(&c.id, 20)
            .await
            .ok()
            .and_then(|tail| crate::idle::stopped_idle(&tail)),
        false => None,
    };
    let last_activity = engine
        .stat_of(&c.id, &crate::idle::activity_path())
        .await
        .and_then(|(size, mtime)| crate::idle::last_activity(size, &mtime));
    Listed {
        found: c,
        stopped_idle,
        last_activity,
    }
}
