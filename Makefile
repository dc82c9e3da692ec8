# Shortcuts; the README's set-up commands are `bash scripts/setup.sh demo|test`.
.PHONY: demo test bench build
demo test bench:
	bash scripts/setup.sh $@
build:
	cmake -S . -B build -G Ninja && ninja -C build
