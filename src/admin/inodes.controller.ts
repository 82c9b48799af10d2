import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminAuthGuard, RevealGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import {
  ChildrenPageDto,
  ChildrenQueryDto,
  InodeByPathQueryDto,
  InodeDto,
  InodeParamsDto,
  RevealQueryDto,
} from './dto/inode.dto';
import { InodesService } from './inodes.service';

@ApiTags('inodes')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard, RevealGuard)
@Controller('admin/inodes')
export class InodesController {
  constructor(private readonly inodes: InodesService) {}

  @Get()
  @ApiOperation({ summary: 'Inspect the inode at a path', operationId: 'getInodeByPath' })
  @ApiOkResponse({ type: InodeDto })
  @ApiAdminProblems(403, 404, 502, 503)
  byPath(@Query() query: InodeByPathQueryDto): Promise<InodeDto> {
    return this.inodes.byPath(query.path, query.reveal === true);
  }

  @Get(':ino')
  @ApiOperation({ summary: 'Inspect an inode by number', operationId: 'getInode' })
  @ApiOkResponse({ type: InodeDto })
  @ApiAdminProblems(403, 404, 503)
  byIno(@Param() params: InodeParamsDto, @Query() query: RevealQueryDto): Promise<InodeDto> {
    return this.inodes.byIno(params.ino, query.reveal === true);
  }

  @Get(':ino/children')
  @ApiOperation({ summary: "One page of a directory's entries", operationId: 'listInodeChildren' })
  @ApiOkResponse({ type: ChildrenPageDto })
  @ApiAdminProblems(404, 503)
  children(@Param() params: InodeParamsDto, @Query() query: ChildrenQueryDto): Promise<ChildrenPageDto> {
    return this.inodes.children(params.ino, query);
  }
}
