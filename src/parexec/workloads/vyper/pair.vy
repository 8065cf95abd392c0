# pragma version 0.4.3
"""A constant-product pool in the style of Uniswap V2 (0.3% fee), called
directly: swap pulls the input with transferFrom and pays the output."""

interface ERC20:
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable
    def transferFrom(owner: address, receiver: address, amount: uint256) -> bool: nonpayable

event Swap:
    trader: indexed(address)
    amount_in: uint256
    amount_out: uint256
    zero_for_one: bool

event Mint:
    provider: indexed(address)
    amount0: uint256
    amount1: uint256
    shares: uint256

token0: public(address)
token1: public(address)
reserve0: public(uint256)
reserve1: public(uint256)
shares: public(HashMap[address, uint256])
totalShares: public(uint256)


@external
def swap(amount_in: uint256, zero_for_one: bool, min_out: uint256) -> uint256:
    r_in: uint256 = self.reserve0
    r_out: uint256 = self.reserve1
    if not zero_for_one:
        r_in = self.reserve1
        r_out = self.reserve0
    fee_in: uint256 = amount_in * 997
    amount_out: uint256 = fee_in * r_out // (r_in * 1000 + fee_in)
    assert amount_out >= min_out, "slippage"
    token_in: address = self.token0
    token_out: address = self.token1
    if not zero_for_one:
        token_in = self.token1
        token_out = self.token0
    extcall ERC20(token_in).transferFrom(msg.sender, self, amount_in)
    extcall ERC20(token_out).transfer(msg.sender, amount_out)
    if zero_for_one:
        self.reserve0 = r_in + amount_in
        self.reserve1 = r_out - amount_out
    else:
        self.reserve1 = r_in + amount_in
        self.reserve0 = r_out - amount_out
    log Swap(trader=msg.sender, amount_in=amount_in, amount_out=amount_out, zero_for_one=zero_for_one)
    return amount_out


@external
def add_liquidity(amount0: uint256, amount1: uint256) -> uint256:
    total: uint256 = self.totalShares
    minted: uint256 = isqrt(amount0 * amount1)
    if total != 0:
        minted = min(amount0 * total // self.reserve0, amount1 * total // self.reserve1)
    assert minted > 0, "no shares"
    extcall ERC20(self.token0).transferFrom(msg.sender, self, amount0)
    extcall ERC20(self.token1).transferFrom(msg.sender, self, amount1)
    self.reserve0 += amount0
    self.reserve1 += amount1
    self.shares[msg.sender] += minted
    self.totalShares = total + minted
    log Mint(provider=msg.sender, amount0=amount0, amount1=amount1, shares=minted)
    return minted
