# Finds what moeprof needs. Required parts stop configuration naming the Debian package;
# optional parts (CUDA, Qt) switch off with a message.

macro(moeprof_require package debian_package)
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR "moeprof needs ${package}: install the Debian package '${debian_package}' "
                        "(scripts/setup.sh does it)")
  endif()
endmacro()

moeprof_require(Torch libtorch-dev)
moeprof_require(nlohmann_json nlohmann-json3-dev)
moeprof_require(CLI11 libcli11-dev)
moeprof_require(SQLite3 libsqlite3-dev)
moeprof_require(ZLIB zlib1g-dev)
find_package(Threads REQUIRED)
# SentencePiece (tokenizers for the real-text inputs): Debian ships it with a pkg-config file.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(SENTENCEPIECE QUIET IMPORTED_TARGET sentencepiece)
endif()
if(NOT SENTENCEPIECE_FOUND)
  message(FATAL_ERROR "moeprof needs SentencePiece: install the Debian package "
                      "'libsentencepiece-dev' (scripts/setup.sh does it)")
endif()

# LibTorch without OpenBLAS' OpenMP build falls back to reference BLAS (about 30x slower).
find_file(MOEPROF_OPENBLAS_OPENMP libopenblas.so.0
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
if(NOT MOEPROF_OPENBLAS_OPENMP)
  message(WARNING "libopenblas0-openmp is not installed: LibTorch will use reference BLAS and "
                  "every measurement will be far slower (scripts/setup.sh installs it)")
endif()

# The grouped expert FFN calls CBLAS directly (one GEMM per expert without a dispatcher call per
# expert); libblas.so.3 resolves to the same OpenBLAS that LibTorch uses.
find_path(MOEPROF_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES x86_64-linux-gnu aarch64-linux-gnu)
find_library(MOEPROF_BLAS_LIBRARY NAMES blas openblas)
if(NOT MOEPROF_CBLAS_INCLUDE_DIR OR NOT MOEPROF_BLAS_LIBRARY)
  message(FATAL_ERROR "moeprof needs CBLAS: install the Debian package 'libblas-dev' "
                      "(scripts/setup.sh does it)")
endif()

# CUDA: optional. nvcc is looked up on PATH and in /usr/local/cuda.
set(MOEPROF_HAVE_CUDA OFF)
if(MOEPROF_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND)
      set(MOEPROF_HAVE_CUDA ON)
      message(STATUS "moeprof: CUDA ${CUDAToolkit_VERSION} found, building the CUDA parts")
      if(TARGET CUDA::cupti)
        message(STATUS "moeprof: CUPTI found")
      else()
        message(STATUS "moeprof: CUPTI not found, GPU activity tracing will be unavailable")
      endif()
    endif()
  endif()
  if(NOT MOEPROF_HAVE_CUDA)
    message(STATUS "moeprof: no CUDA toolkit found, building for CPU only")
  endif()
endif()

# NVTX3 is header-only; it ships with the CUDA toolkit. Without it, ranges compile to nothing.
find_path(MOEPROF_NVTX3_INCLUDE_DIR nvtx3/nvToolsExt.h
  HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
if(MOEPROF_NVTX3_INCLUDE_DIR)
  message(STATUS "moeprof: NVTX3 headers in ${MOEPROF_NVTX3_INCLUDE_DIR}")
else()
  message(STATUS "moeprof: NVTX3 headers not found, NVTX ranges are compiled out")
endif()

set(MOEPROF_HAVE_QT OFF)
if(MOEPROF_BUILD_GUI)
  find_package(Qt6 COMPONENTS Widgets QUIET)
  if(Qt6_FOUND)
    set(MOEPROF_HAVE_QT ON)
  else()
    message(STATUS "moeprof: Qt 6 not found (Debian: qt6-base-dev), the GUI is not built")
  endif()
endif()
