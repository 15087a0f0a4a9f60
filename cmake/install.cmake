# Installing tapegrad: `cmake --install <build> [--prefix DIR]` puts
#   include/tapegrad/      the umbrella tapegrad.hpp, the opt-in xtensor.hpp, and the public
#                          headers in the source tree's layout (framework/, layers/, optim/;
#                          none of framework/kernels, and of framework/core only checked.hpp,
#                          the overflow-checked size arithmetic that allocator.hpp's inline
#                          functions use, not the OpenMP loops of parallel.hpp)
#   lib/libtapegrad.so.0.2.0 (SONAME libtapegrad.so.0.2), or libtapegrad.a with
#                          -DBUILD_SHARED_LIBS=OFF
#   lib/cmake/tapegrad/    tapegradConfig.cmake, its version file and the exported target
#                          tapegrad::tapegrad: find_package(tapegrad 0.2 REQUIRED)
#   lib/pkgconfig/tapegrad.pc
# Nothing installed refers to the source or build tree (tests/install_consumer.sh checks).
# `cpack -G DEB` in the build directory packages the same tree as tapegrad-dev_<version>_amd64.deb
# (bash run.sh package).
include(CMakePackageConfigHelpers)

set(TAPEGRAD_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad")

install(TARGETS tapegrad EXPORT tapegradTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT tapegrad NAMELINK_COMPONENT tapegrad
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT tapegrad
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(FILES include/tapegrad/tapegrad.hpp include/tapegrad/xtensor.hpp
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tapegrad" COMPONENT tapegrad)
install(DIRECTORY framework layers optim
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tapegrad" COMPONENT tapegrad
  FILES_MATCHING PATTERN "*.hpp"
  PATTERN "kernels" EXCLUDE
  PATTERN "parallel.hpp" EXCLUDE)
install(EXPORT tapegradTargets NAMESPACE tapegrad:: DESTINATION "${TAPEGRAD_CMAKE_DIR}" COMPONENT tapegrad)

configure_package_config_file(cmake/tapegradConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake"
  INSTALL_DESTINATION "${TAPEGRAD_CMAKE_DIR}")
# 0.2.x accepts requests for 0.2 (before 1.0 a minor version is a new ABI).
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake"
  DESTINATION "${TAPEGRAD_CMAKE_DIR}" COMPONENT tapegrad)

# pkg-config: the same flags as the CMake target. Requires: the packages whose headers the
# public headers include (nlohmann_json's forward declarations; xtensor for xtensor.hpp).
if(BUILD_SHARED_LIBS)
  set(TAPEGRAD_PC_PRIVATE_LIBS "")
else()
  set(TAPEGRAD_PC_PRIVATE_LIBS "-lz ${CMAKE_DL_LIBS}")
endif()
# prefix from the .pc file's own place (${pcfiledir}), so that the tree can be installed with
# --prefix anywhere, and packaged.
file(RELATIVE_PATH TAPEGRAD_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(cmake/tapegrad.pc.in "${CMAKE_CURRENT_BINARY_DIR}/tapegrad.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/tapegrad.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
  COMPONENT tapegrad)

# --- the Debian package ---------------------------------------------------------------------
# One development package: library, headers, CMake and pkg-config files. Depends: the shared
# libraries libtapegrad.so links (dpkg-shlibdeps), OpenBLAS's OpenMP build, which gemm.cpp
# loads at run time by its soname, and the -dev packages whose headers the public headers
# include.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "tapegrad-dev")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "tapegrad developers <tapegrad@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "C++20 autodiff framework with a PyTorch-exact GroupNorm (development files)")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-openmp, nlohmann-json3-dev (>= 3.11), xtensor-dev (>= 0.24), libxsimd-dev (>= 8.1)")
set(CPACK_COMPONENTS_ALL tapegrad)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_CURRENT_BINARY_DIR};tapegrad;tapegrad;/")
include(CPack)
