# CMake generated Testfile for 
# Source directory: /work/wt-transforms
# Build directory: /work/wt-transforms/build2
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
subdirs("tests")
