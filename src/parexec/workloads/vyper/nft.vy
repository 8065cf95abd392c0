# pragma version 0.4.3
"""An ERC-721 collection, as the workloads call it: anyone mints the next id
(so mints wait on each other), owners transfer."""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    token_id: indexed(uint256)

ownerOf: public(HashMap[uint256, address])
balanceOf: public(HashMap[address, uint256])
nextId: public(uint256)


@external
def mint(receiver: address) -> uint256:
    token_id: uint256 = self.nextId
    self.nextId = token_id + 1
    self.ownerOf[token_id] = receiver
    self.balanceOf[receiver] += 1
    log Transfer(sender=empty(address), receiver=receiver, token_id=token_id)
    return token_id


@external
def transferFrom(owner: address, receiver: address, token_id: uint256):
    assert self.ownerOf[token_id] == owner, "not the owner"
    assert msg.sender == owner, "not allowed"
    self.ownerOf[token_id] = receiver
    self.balanceOf[owner] -= 1
    self.balanceOf[receiver] += 1
    log Transfer(sender=owner, receiver=receiver, token_id=token_id)
