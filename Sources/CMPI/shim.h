// Open MPI (Debian's libopenmpi-dev). mpi.h names its handles through macros that take the address of
// library globals (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE...), which Swift cannot import: these
// functions hand them over.
#include <mpi.h>

static inline MPI_Comm haarface_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype haarface_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype haarface_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype haarface_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype haarface_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op haarface_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op haarface_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op haarface_mpi_min(void) { return MPI_MIN; }
static inline void *haarface_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler haarface_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Request haarface_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline int haarface_mpi_test(MPI_Request *request, int *flag) { return MPI_Test(request, flag, MPI_STATUS_IGNORE); }
static inline int haarface_mpi_wait(MPI_Request *request) { return MPI_Wait(request, MPI_STATUS_IGNORE); }
