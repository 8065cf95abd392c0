"""Wrong EIP-7928 lists for tests: an exact list with one thing changed."""

from __future__ import annotations

from dataclasses import replace

from parexec.access.eip7928 import AccountChanges, BlockAccessList

PERTURBATIONS = ["value", "storage value", "nonce", "code", "no-op change", "dropped slot", "dropped account",
                 "extra write", "extra read", "extra account"]
# what they make the block break: a transaction disagrees (named), or the list holds what nothing accesses
EXCESS = ("extra read", "extra account")


def perturbed(access_list: BlockAccessList, kind: str, pick: int) -> BlockAccessList:
    """``access_list`` with one change of ``kind`` (PERTURBATIONS), where ``pick``
    chooses: a balance one more, a stored value one more, a nonce one more, code
    one byte longer, a balance listed again at the next transaction as it was (a
    change that changes nothing), an account's first slot dropped, an account
    dropped, a write to an account the block never touches, a slot read that
    nothing reads, or an account that nothing accesses. Where the list has
    nothing of that kind (no storage, no code), a balance is changed."""
    accounts = list(access_list.accounts)
    if kind == "value":
        candidates = [i for i, a in enumerate(accounts) if a.balance_changes]
        if not candidates:
            return access_list
        i = candidates[pick % len(candidates)]
        a = accounts[i]
        (index, value), rest = a.balance_changes[0], a.balance_changes[1:]
        accounts[i] = replace(a, balance_changes=((index, value + 1),) + rest)
    elif kind in ("storage value", "dropped slot"):
        candidates = [i for i, a in enumerate(accounts) if a.storage_changes]
        if not candidates:  # nothing stored in this block: perturb a balance instead
            return perturbed(access_list, "value", pick)
        i = candidates[pick % len(candidates)]
        a = accounts[i]
        if kind == "dropped slot":
            accounts[i] = replace(a, storage_changes=a.storage_changes[1:])
        else:
            (slot, changes), rest = a.storage_changes[0], a.storage_changes[1:]
            (index, value), later = changes[0], changes[1:]
            accounts[i] = replace(a, storage_changes=((slot, ((index, value + 1),) + later),) + rest)
    elif kind in ("nonce", "code"):
        field = "nonce_changes" if kind == "nonce" else "code_changes"
        candidates = [i for i, a in enumerate(accounts) if getattr(a, field)]
        if not candidates:
            return perturbed(access_list, "value", pick)
        i = candidates[pick % len(candidates)]
        (index, value), rest = getattr(accounts[i], field)[0], getattr(accounts[i], field)[1:]
        value = value + 1 if kind == "nonce" else (value + b"\x00" if len(value) < 24_576 else value[:-1])
        accounts[i] = replace(accounts[i], **{field: ((index, value),) + rest})
    elif kind == "no-op change":
        top = max((index for a in accounts for series in (a.balance_changes, a.nonce_changes, a.code_changes,
                                                          *(changes for _, changes in a.storage_changes))
                   for index, _ in series), default=0)  # at most n + 1: below it, a transaction's index
        candidates = [(i, index, value) for i, a in enumerate(accounts) for index, value in a.balance_changes
                      if 1 <= index and index + 1 < top and index + 1 not in dict(a.balance_changes)]
        if not candidates:
            return perturbed(access_list, "value", pick)
        i, index, value = candidates[pick % len(candidates)]
        accounts[i] = replace(accounts[i], balance_changes=tuple(sorted((*accounts[i].balance_changes,
                                                                         (index + 1, value)))))
    elif kind == "dropped account":
        del accounts[pick % len(accounts)]
    elif kind == "extra write":
        accounts.append(AccountChanges(b"\xee" * 20, balance_changes=((1 + pick % 5, 7),)))
    elif kind == "extra read":
        i = pick % len(accounts)
        a = accounts[i]
        named = {slot for slot, _ in a.storage_changes} | set(a.storage_reads)
        slot = next(s for s in range(0xEE00 + pick, 0xEE00 + pick + len(named) + 1) if s not in named)
        accounts[i] = replace(a, storage_reads=tuple(sorted((*a.storage_reads, slot))))
    elif kind == "extra account":
        accounts.append(AccountChanges(b"\xee" * 20))
    else:
        raise ValueError(kind)
    return BlockAccessList(tuple(sorted(accounts, key=lambda a: a.address)))
