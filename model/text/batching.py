"""Length-bucketed batches: texts sorted by length and cut by count and padded size, so padding stays
a few percent. Shared by the Python API and the Beam encode job."""


def plan_batches(lengths: list[int], batch_size: int, batch_tokens: int) -> list[list[int]]:
    """Row numbers grouped into batches of similar length (sorted), within both size limits."""
    order = sorted(range(len(lengths)), key=lambda row: (lengths[row], row))
    groups: list[list[int]] = []
    for row in order:
        if groups and len(groups[-1]) < batch_size and (len(groups[-1]) + 1) * lengths[row] <= batch_tokens:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups
