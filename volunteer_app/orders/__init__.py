"""Orders (点单 → 派单/抢单 → 接单 → 签到/签退 → 评单 → 审核): the order loop."""
