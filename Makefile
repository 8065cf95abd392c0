# parexec: `make demo` and `make test` work on a fresh machine; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA := ../shared/data
# pytest-xdist processes for the test suite (CI has 2 cores)
TEST_JOBS ?= 2

.PHONY: install browser demo test conformance eest bench bench-adversarial bench-bal bench-chain bench-declared bench-replay simulate access-lists eip7928-lists fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/parexec demo --data $(DATA) -o report

# Debian's headless Chromium, for the report test (tests/test_report.py)
browser:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The execution specification (ethereum-execution), the oracle of tests/test_osaka.py,
# in its own venv: it pins another coincurve than parexec (see tests/spec_oracle.py).
SPEC_STAMP := build/spec-venv/.pins
$(SPEC_STAMP): tests/spec_oracle.py $(STAMP)
	$(BIN)/python -c 'import sys; sys.path.insert(0, "tests"); import spec_oracle; spec_oracle.spec_python()'
	touch $@

test: install browser $(SPEC_STAMP)
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadgroup -q tests

# The shared ethereum/tests, mainnet blocks and Prague block through every
# strategy and worker count (slower than `make test`); small test blocks are
# pushed through the parallel path too. Declared-access strategies run with
# footprints from pre-execution (--predict), and with exact block access lists
# (build/access-lists), over all of it. The strategies come from the registry
# (parexec.strategies), so a new one is included; occ runs once more with
# operation-level redo on every stale result, each repair checked against a full
# execution (PAREXEC_REDO_CHECK). 3000 random workload blocks (six kinds, Cancun to
# BPO2) are judged by the execution specification under every strategy
# (tests/test_spec_judge.py). `make eest` runs the
# execution-spec-tests alone, serially, with a table by fork and EIP.
CONFORMANCE_DATA := $(DATA)/ethereum-tests $(DATA)/eest $(DATA)/mainnet $(DATA)/mainnet-prague
# every synthetic workload at no, half and full contention (verify takes specs too)
WORKLOAD_SPECS := $(foreach w,transfers erc20 chain amm nft mixed,$(foreach h,0 0.5 1,$(w):txs=200,hot=$(h))) \
	$(foreach w,onewrite coinbase redeploy redelegate abortonce,$(w):txs=200)  # adversarial (issue 18)
PARALLEL_STRATEGIES = $(shell $(BIN)/python -c 'from parexec.strategies import PARALLEL; print(*PARALLEL)')
DECLARED_STRATEGIES = $(shell $(BIN)/python -c 'from parexec.strategies import DECLARED; print(*DECLARED)')
conformance: install access-lists eip7928-lists
	$(BIN)/parexec verify $(CONFORMANCE_DATA) $(WORKLOAD_SPECS) --strategy serial
	set -e; for s in $(PARALLEL_STRATEGIES); do for w in 1 2 4; do \
		echo "== $$s, $$w workers"; \
		$(BIN)/parexec verify $(CONFORMANCE_DATA) $(WORKLOAD_SPECS) --strategy $$s --workers $$w --min-parallel-txs 2 \
			--predict; \
	done; done
	set -e; for s in $(DECLARED_STRATEGIES); do for w in 1 2 4; do \
		echo "== $$s, $$w workers, --hints"; \
		$(BIN)/parexec verify $(CONFORMANCE_DATA) --strategy $$s --workers $$w \
			--min-parallel-txs 2 --hints build/access-lists; \
	done; done
	set -e; for w in 1 2 4; do \
		echo "== bal, $$w workers, EIP-7928 lists"; \
		$(BIN)/parexec verify $(CONFORMANCE_DATA) --strategy bal --workers $$w \
			--min-parallel-txs 2 --hints build/eip7928-lists; \
	done
	set -e; for w in 2 4; do \
		echo "== occ, $$w workers, every speculative execution logged, every repair checked"; \
		PAREXEC_REDO_CHECK=1 $(BIN)/parexec verify $(CONFORMANCE_DATA) $(WORKLOAD_SPECS) --strategy occ \
			--workers $$w --min-parallel-txs 2 --redo on; \
	done
	PAREXEC_HYPOTHESIS_EXAMPLES=300 $(BIN)/python -m pytest -q tests/test_parallel_equivalence.py
	PAREXEC_HYPOTHESIS_EXAMPLES=2000 $(BIN)/python -m pytest -q tests/test_redo.py
	PAREXEC_JUDGE_BLOCKS=3000 PAREXEC_JUDGE_SEED=1 $(BIN)/python -m pytest -q tests/test_spec_judge.py

# Fuzzing what parexec reads from outside (tests/test_fuzz.py, Hypothesis): the
# fixture readers, block RLP and transaction decoding, both access-list readers.
# `make test` runs 150-500 examples per target (seconds); this runs FUZZ_EXAMPLES
# per target (PAREXEC_FUZZ_EXAMPLES; 20000 take about 7 minutes on one core).
# Every crash found is fixed and kept in that file as a regression test.
FUZZ_EXAMPLES ?= 20000
fuzz: install
	PAREXEC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

# A block access list (`parexec access-list`) for every block of the conformance data
# (block dumps and ethereum/tests chains), from one serial run.
access-lists: build/access-lists/.complete

# The EIP-7928 list of every block of the conformance data, for bal (each round-trips as it is written)
eip7928-lists: build/eip7928-lists/.complete

# both kinds of list are written again once any source has changed (what a list holds is the engine's)
SOURCES := $(shell find src/parexec -name '*.py')

build/eip7928-lists/.complete: $(STAMP) $(SOURCES)
	rm -rf build/eip7928-lists
	$(BIN)/parexec access-list $(CONFORMANCE_DATA) --format eip7928 -o build/eip7928-lists
	touch $@

build/access-lists/.complete: $(STAMP) $(SOURCES)
	rm -rf build/access-lists
	$(BIN)/parexec access-list $(CONFORMANCE_DATA) -o build/access-lists
	touch $@

# Speedups, each measured as a ratio within one run (see README "Performance").
BYZANTIUM_ON := $(shell ls $(DATA)/mainnet/blocks 2>/dev/null | awk '$$1 >= 4370000' | sort -n | sed 's|^|$(DATA)/mainnet/blocks/|')
bench: install
	$(BIN)/python benchmarks/serial_vs_pyevm.py --repeat 3
	$(BIN)/parexec bench erc20:txs=1000 chain:txs=300 transfers:txs=1000 --workers 2 --repeat 5 --json bench-workloads.json
	$(BIN)/parexec bench $(BYZANTIUM_ON) --workers 2 --repeat 3 --json bench-mainnet.json

# bal with exact EIP-7928 lists (issue 16): the lists of the mainnet blocks from
# Byzantium on and of the workloads (chain also at its default size, 1,000), written
# from serial runs, then bal against occ with them; then every declared strategy and
# bal without lists, beside occ.
BAL_WORKLOADS := erc20:txs=1000 chain:txs=300 chain
bench-bal: install
	rm -rf build/bench-bal-lists
	$(BIN)/parexec access-list $(BYZANTIUM_ON) $(BAL_WORKLOADS) --format eip7928 -o build/bench-bal-lists
	$(BIN)/parexec bench $(BYZANTIUM_ON) --strategies occ,bal --workers 2 --repeat 3 \
		--hints build/bench-bal-lists --json bench-bal-mainnet.json
	$(BIN)/parexec bench $(BAL_WORKLOADS) --strategies occ,bal --workers 2 --repeat 5 \
		--hints build/bench-bal-lists --json bench-bal-workloads.json
	$(BIN)/parexec bench $(BYZANTIUM_ON) --strategies occ,dag,bal,account-locks,slot-locks --workers 2 \
		--repeat 3 --json bench-bal-no-lists.json

# The adversarial workloads (issue 18): every strategy at 2 workers, with what it can
# know (nothing, pre-execution, exact lists, lists hiding the chain), time over serial's.
bench-adversarial: install
	$(BIN)/python benchmarks/adversarial.py --workers 2 --repeat 7 --json bench-adversarial.json

# A synthetic chain imported end to end (every state root checked): serial one block
# at a time against each strategy pipelined and not, blocks/s of every run, peak memory.
# blocks/s of `parexec replay` in this process and on a local Ray, in one run
bench-replay: install
	$(BIN)/python -m parexec.cluster.replay_bench $(DATA)/mainnet --repeat 3

bench-chain: install
	$(BIN)/parexec chain bench erc20:txs=200,blocks=50,accounts=100000,seed=0 --strategies serial,occ,block-stm \
		--workers 2 --repeat 3 --json bench-chain.json

# Declared-access strategies: slot against account locks on one token; dag with
# exact access lists against block-stm on the mainnet blocks.
bench-declared: install access-lists
	$(BIN)/parexec bench erc20:txs=1000 --strategies account-locks,slot-locks,dag,block-stm \
		--workers 2 --repeat 5 --predict --json bench-declared-erc20.json
	$(BIN)/parexec bench $(BYZANTIUM_ON) --strategies block-stm,dag,slot-locks,account-locks \
		--workers 2 --repeat 3 --hints build/access-lists --json bench-declared-mainnet.json

# What more cores would buy: the simulation of the mainnet blocks, calibrated anew
# on this machine and checked against the real engine at its worker count.
simulate: install
	$(BIN)/parexec simulate $(BYZANTIUM_ON) --workers 1,2,4,8,16,32,64 --repeat 5 --recalibrate --validate --what-if 32 \
		--json build/simulate-mainnet.json

# The execution-spec-tests (Prague and Osaka, ../shared/data/eest) through serial
# execution: the forks that issue 12 adds; until then this fails, and says where.
eest: install
	$(BIN)/parexec verify $(DATA)/eest --strategy serial --by-fork

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
