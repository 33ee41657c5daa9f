/* A model's weights on the GPU (kernels/cuda/), uploaded once per version,
 * and a whole prediction queued on a stream: normalisation, the layers or
 * the trees, the output transform, so the rows stay on the device between
 * the copy in and the copy out. Same arithmetic as weir_model_predict. */
#ifndef WEIR_MODEL_GPU_H
#define WEIR_MODEL_GPU_H

#include <stddef.h>

#include "kernels/cuda/cuda.h"
#include "models/model.h"

struct weir_gpu_model;

/* Copies m's arrays to the device (synchronously); NULL with err filled. */
struct weir_gpu_model *weir_gpu_model_upload(const struct weir_model *m, char *err, size_t len);
void weir_gpu_model_free(struct weir_gpu_model *g);
/* Device floats of scratch a prediction of n rows needs. */
size_t weir_gpu_model_scratch(const struct weir_model *m, size_t n);
/* Queues on s: n rows of X (device, nin floats each) → out (device, n rows
 * of nout). 0, or -1 with weir_cuda_error() saying why. */
int weir_gpu_model_predict(const struct weir_gpu_model *g, const float *X, size_t n, float *out,
                           float *scratch, weir_cuda_stream *s);

#endif
